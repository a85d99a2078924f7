"""Models on local disk: the store, the explicit fetch command, the pinned catalog."""
