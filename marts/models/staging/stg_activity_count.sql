-- Daily activity counts with their month.
select
    partner,
    activity_date,
    date_trunc('month', activity_date)::date as month,
    coalesce(service_area, 'unmapped') as service_area,
    activity_type,
    measure,
    value
from {{ source('warehouse', 'activity_count') }}
