"""Seed data for the cities table."""
