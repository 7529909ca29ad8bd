"""Human views, one module per command: `render(result, console)`."""
