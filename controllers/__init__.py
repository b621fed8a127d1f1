"""Control laws in numpy (installed as `robot_rl.controllers`): the same code runs on the robot and in the twin."""
