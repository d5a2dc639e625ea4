"""NN-API delegation: the delegate's per-operator rules as data, and the checker that applies them."""
