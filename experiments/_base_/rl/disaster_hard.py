# The built-in DisasterRescue grid world, `hard` preset: a 14x14 map, three victims, more fire (south wind) and two
# faster floods, 200-step episodes, an egocentric 7x7-cell window turned with the agent, Habitat actions
# (stop/move_forward/turn_left/turn_right) and no distance shaping. Partial view and moving hazards: stack frames.
# obs_size=28 draws each cell of the window as exactly 4x4 pixels.
env = dict(type="DisasterRescueEnv", preset="hard", obs_size=28)
