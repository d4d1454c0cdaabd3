"""``python -m sb3_maxent.enjoy``: the rl_zoo3 front end lives in :mod:`sb3_maxent.zoo.enjoy`."""

from sb3_maxent.zoo.enjoy import main

if __name__ == "__main__":
    main()
