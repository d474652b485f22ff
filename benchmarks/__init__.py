"""Timing scripts for Parallax: each stage against its raw library, caches, scale."""
