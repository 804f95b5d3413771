"""Front ends: import a model into `tinyml.ir.Graph`."""
