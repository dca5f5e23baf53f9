{#- Reach: residents of the area with a completed contact in the 12 months ending with the month, per
    residents (population of the month's year; the latest earlier year when that is not out yet). -#}
{{ config(**monthly_incremental_config()) }}

with bounds as ({{ target_months(ref('stg_area_contacts')) }}),

residents_segments as (
    select * from {{ ref('int_user_windows') }} where is_area_resident
),

group_segments as (
    select 'all' as breakdown, 'all' as group_value, valid_from_n, valid_to_n from residents_segments
    union all
    -- the age groups' own total row, so that the additive relation all = 0-6 + ... + unknown is in one group
    select 'age_group', 'all', valid_from_n, valid_to_n from residents_segments
    union all
    select 'age_group', age_group, valid_from_n, valid_to_n from residents_segments
    union all
    select 'age_group', '65+', valid_from_n, valid_to_n from residents_segments where age_group in ('65-74', '75+')
    union all
    select 'service_area', a.service_area, s.valid_from_n, s.valid_to_n
    from residents_segments as s
    inner join {{ ref('service_areas') }} as a on (s.area_mask >> a.area_bit) & 1 = 1
),

users as (
    {{ persons_per_month('group_segments', ['breakdown', 'group_value']) }}
),

groups as (
    select 'all' as breakdown, 'all' as group_value
    union all
    select 'age_group', unnest(['all', '0-6', '7-17', '18-64', '65-74', '75+', '65+', 'unknown'])
    union all
    select 'service_area', service_area from {{ ref('service_areas') }} where service_area <> 'unmapped'
),

grid as (
    select g.breakdown, g.group_value, m.month_n
    from groups as g
    cross join (select unnest(range(b.first_n, b.last_n + 1)) as month_n from bounds as b) as m
),

counted as (
    select grid.breakdown, grid.group_value, grid.month_n, coalesce(u.persons, 0) as users
    from grid
    asof left join users as u
        on u.breakdown = grid.breakdown and u.group_value = grid.group_value and u.month_n <= grid.month_n
),

population_year as (
    select m.month_n, max(p.year) as year
    from (select distinct month_n from grid) as m
    inner join {{ ref('int_area_population') }} as p on p.year <= m.month_n // 12
    group by m.month_n
)

select
    {{ month_date('c.month_n') }} as month,
    c.breakdown,
    c.group_value,
    py.year as population_year,
    p.residents,
    coalesce(p.estimated, false) as residents_estimated,
    c.users,
    round(100.0 * c.users / nullif(p.residents, 0), 2) as reach_pct
from counted as c
left join population_year as py on py.month_n = c.month_n
left join {{ ref('int_area_population') }} as p
    on p.year = py.year
   and p.age_group = case when c.breakdown = 'age_group' then c.group_value else 'all' end
