"""Fakes, labelled as fakes: in-process stand-ins for external services (a WebDriver/Appium server over the
simulated phone) that tests and offline demos talk to through the real clients."""
