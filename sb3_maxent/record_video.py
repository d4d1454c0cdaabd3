"""``python -m sb3_maxent.record_video``: the rl_zoo3 front end lives in :mod:`sb3_maxent.zoo.record_video`."""

from sb3_maxent.zoo.record_video import main

if __name__ == "__main__":
    main()
