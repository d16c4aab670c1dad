# The built-in DisasterRescue grid world, `easy` preset: one victim in an open 7x7 room, 20-step episodes,
# global top-down 64x64 view. Nothing moves but the agent, so one frame is a full state (no frame stack needed).
env = dict(type="DisasterRescueEnv", preset="easy")
