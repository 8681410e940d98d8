"""Helpers the check areas share: result types, registry, parsers, statistics, evidence."""
