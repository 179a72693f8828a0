"""The one error type a user should see as a single line, not a traceback."""


class TextslimError(Exception):
    """A problem with the user's input (a param, a file, a dataset): printed as one line, exit code 2."""
