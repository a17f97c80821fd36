"""coso.models"""
