"""``python -m sb3_maxent.push_to_hub``: the rl_zoo3 front end lives in :mod:`sb3_maxent.zoo.push_to_hub`."""

from sb3_maxent.zoo.push_to_hub import main

if __name__ == "__main__":
    main()
