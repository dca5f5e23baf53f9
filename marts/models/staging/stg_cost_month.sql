-- Cost per partner, service area and month.
select
    partner,
    month,
    coalesce(service_area, 'unmapped') as service_area,
    cost_eur
from {{ source('warehouse', 'cost_month') }}
