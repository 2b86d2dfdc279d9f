"""Task sources: procedural generators and loaders of real datasets, one module per noun."""
