"""coso.env.sim"""
