"""``python -m sb3_maxent.load_from_hub``: the rl_zoo3 front end lives in :mod:`sb3_maxent.zoo.load_from_hub`."""

from sb3_maxent.zoo.load_from_hub import main

if __name__ == "__main__":
    main()
