"""Statistics without domain vocabulary (numpy / scipy), shared by every package.

- :mod:`.agreement`: ICC, Bland-Altman, Cohen's and Fleiss' kappa, correlations.
"""
