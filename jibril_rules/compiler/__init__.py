"""Compile time: recipe YAML -> AST -> typed IR -> kernel tables + decision tree.

Only the compiler imports lark and cerberus; runtime/, reactions/ and sensor/ never import it."""
