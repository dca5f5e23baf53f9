{#- Actual cost (open book) per month and service area, and for the alliance ('all'), with what the euro
    rules need: the partners with cost (producers) and the top two partners' share of the cost. Cost per
    resident at alliance level only: the month's cost / the area's residents (population of the month's
    year, or the latest earlier year, as kpi_reach). -#}
{{ config(**monthly_incremental_config()) }}

with bounds as ({{ target_months() }}),

partner_costs as (
    select c.month, coalesce(c.service_area, 'all') as service_area, c.partner, sum(c.cost_eur) as cost_eur
    from (select * from {{ ref('stg_cost_month') }}) as c
    cross join bounds as b
    where {{ month_n('c.month') }} between b.first_n and b.last_n
    group by grouping sets ((c.month, c.partner), (c.month, c.service_area, c.partner))
),

ranked as (
    select *, row_number() over (partition by month, service_area order by cost_eur desc, partner) as cost_rank
    from partner_costs
),

costs as (
    select
        month,
        service_area,
        sum(cost_eur)::decimal(18, 2) as actual_cost_eur,
        count(*) filter (where cost_eur > 0)::integer as producers,
        round(sum(cost_eur) filter (where cost_rank <= 2 and cost_eur > 0) / nullif(sum(cost_eur), 0), 4)::double
            as top_two_share
    from ranked
    group by all
),

residents as (
    select m.month, arg_max(p.residents, p.year) as residents
    from (select distinct month from costs) as m
    inner join {{ ref('int_area_population') }} as p on p.age_group = 'all' and p.year <= year(m.month)
    group by m.month
)

select
    c.month,
    c.service_area,
    c.actual_cost_eur,
    c.producers,
    c.top_two_share,
    case when c.service_area = 'all' then r.residents end as residents,
    case when c.service_area = 'all' then round(c.actual_cost_eur / nullif(r.residents, 0), 2)::double end
        as cost_per_resident
from costs as c
left join residents as r using (month)
