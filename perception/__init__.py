"""physground: perception."""
