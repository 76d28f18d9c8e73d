"""One widget per module; each knows how to show one kind of data and nothing else."""
