"""Search over answers: the tree and its Thompson-sampling policy (AB-MCTS), used by ``treesearch``."""
