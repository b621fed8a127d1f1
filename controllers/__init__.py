"""Control laws in numpy (installed as `robot_rl.controllers`), shared by the robot and the twin."""
