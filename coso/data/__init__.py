"""coso.data"""
