# The built-in DisasterRescue grid world, `medium` preset: a 10x10 map with walls, two victims, fire spreading with
# an east wind and a rising flood; 80-step episodes, global top-down view. Fire and water move, so one frame does not
# show where they are going: stack at least 2 frames (train_cfg.frame_stack). obs_size=40 draws each cell as exactly
# 4x4 pixels (the default 64 would give 6.4, blurring cell edges).
env = dict(type="DisasterRescueEnv", preset="medium", obs_size=40)
