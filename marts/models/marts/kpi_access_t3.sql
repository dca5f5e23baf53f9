{#- T3 (third next available appointment): the median of the month's daily measurements per partner, unit
    and professional group, and over all units of a professional group (partner = unit_code = 'all'). -#}
{{ config(**monthly_incremental_config()) }}

with bounds as ({{ target_months() }})

select
    t.month,
    coalesce(t.partner, 'all') as partner,
    coalesce(t.unit_code, 'all') as unit_code,
    t.professional_group,
    count(*) as measurements,
    median(t.t3_days)::double as t3_median
from {{ ref('stg_access_t3') }} as t
cross join bounds as b
where {{ month_n('t.month') }} between b.first_n and b.last_n
group by grouping sets ((t.month, t.professional_group), (t.month, t.partner, t.unit_code, t.professional_group))
