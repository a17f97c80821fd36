"""coso.training"""
