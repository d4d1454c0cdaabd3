"""Pieces shared by the sb3_maxent algorithms."""
