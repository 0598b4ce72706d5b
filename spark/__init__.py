"""Spark jobs of the weather pipeline; run as python -m spark.<job> or python spark/<job>.py"""
