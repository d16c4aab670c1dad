# The built-in DisasterRescue grid world, `easy` preset: one victim in an open 7x7 room, 20-step episodes,
# global top-down 64x64 view, two stacked frames (the env stacks them itself, oldest first).
env = dict(type="DisasterRescueEnv", preset="easy", frame_stack=2)
