"""``python -m sb3_maxent.train``: the rl_zoo3 front end lives in :mod:`sb3_maxent.zoo.train`."""

from sb3_maxent.zoo.train import main

if __name__ == "__main__":
    main()
