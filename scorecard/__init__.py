"""The alliance scorecard: marts (dbt, ``marts/``), disclosure control, the target budget and incentive,
and the monthly publication and report."""
