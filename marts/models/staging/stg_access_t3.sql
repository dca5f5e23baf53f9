-- T3 measurements with their month.
select
    partner,
    measure_date,
    date_trunc('month', measure_date)::date as month,
    unit_code,
    coalesce(professional_group, 'unmapped') as professional_group,
    t3_days
from {{ source('warehouse', 'access_t3') }}
