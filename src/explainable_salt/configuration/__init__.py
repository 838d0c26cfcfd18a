"""The configuration: how it is read (the loader and its resolvers) and the one schema every
parameter is checked against."""
