"""Code generation: Graph + memory plan -> template context -> Jinja2 templates -> C files."""
