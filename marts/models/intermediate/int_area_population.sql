{#- Residents of the area per statistics year and age group. The population comes in five-year bands;
    the groups 0-6 and 7-17 cut bands 5-9 and 15-19: ages are assumed evenly spread within a band, so
    2/5 of 5-9 is 0-6 and 3/5 of 15-19 is 7-17 (an estimated denominator). The cut points are rounded
    once, as cumulative counts, so the five groups always add up to the total. -#}
with bands as (
    select
        p.year,
        split_part(replace(p.age_band, '+', ''), '-', 1)::integer as band_from,
        sum(p.residents) as residents
    from {{ ref('stg_population') }} as p
    where p.postal_code in (select postal_code from {{ ref('tesoma_area') }})
    group by all
),

cumulative as (
    select
        year,
        sum(residents) filter (where band_from < 5) + round(0.4 * coalesce(sum(residents) filter (where band_from = 5), 0))
            as under_7,
        sum(residents) filter (where band_from < 15) + round(0.6 * coalesce(sum(residents) filter (where band_from = 15), 0))
            as under_18,
        coalesce(sum(residents) filter (where band_from < 65), 0) as under_65,
        coalesce(sum(residents) filter (where band_from < 75), 0) as under_75,
        sum(residents) as total
    from bands
    group by year
)

select year, age_group, residents::bigint as residents, estimated
from cumulative,
    lateral (
        values
            ('all', total, false),
            ('0-6', under_7, true),
            ('7-17', under_18 - under_7, true),
            ('18-64', under_65 - under_18, true),
            ('65-74', under_75 - under_65, false),
            ('75+', total - under_75, false),
            ('65+', total - under_65, false)
    ) as g(age_group, residents, estimated)
