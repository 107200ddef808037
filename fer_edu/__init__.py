"""fer_edu: the helper package of the fer-edu course on facial-expression recognition.

Modules import one way: data -> models, losses -> metrics -> train -> experiments -> results;
plots, explain and demo read models and results; the command line (cli) sits on top.
"""

__version__ = "0.1.0"
