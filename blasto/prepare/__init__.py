"""From a plate movie to clean pool movies: find the grid, crop the pools, clean the corners."""
