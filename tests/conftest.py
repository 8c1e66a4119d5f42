import matplotlib

matplotlib.use("Agg")

import torch  # noqa: E402

# The tests work on tiny tensors, where intra-op threads only add synchronisation; and on a
# busy 2-core machine, OpenMP threads spinning against other processes made single steps
# 50x slower. One thread keeps the suite fast and its timing stable.
torch.set_num_threads(1)
