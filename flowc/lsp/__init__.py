"""`flowc lsp`: the language server (pygls, stdio) on top of the pipeline and `flowc fmt`."""
