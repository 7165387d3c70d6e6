"""fastpipesim: a fast, trace-driven simulator of AI operations platforms."""
