"""coso.algorithms"""
