"""The built-in data sets, one module each; every module registers its `DataSet` on import."""
