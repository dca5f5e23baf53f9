{#- Persons per month and group from disjoint [valid_from_n, valid_to_n] intervals (one person's
    intervals never overlap within a group): +1 where an interval starts, -1 after it ends, summed
    cumulatively. Exact integers; no interval is expanded to months. Returns (keys..., month_n, persons)
    at the months where a count changes: as-of join it onto the months wanted. -#}
{% macro persons_per_month(segments, keys) -%}
    {%- set k = keys | join(', ') -%}
    select {{ k }}, month_n, (sum(sum(delta)) over (partition by {{ k }} order by month_n))::bigint as persons
    from (
        select {{ k }}, valid_from_n as month_n, count(*) as delta from {{ segments }} group by all
        union all
        select {{ k }}, valid_to_n + 1 as month_n, -count(*) as delta from {{ segments }} group by all
    )
    group by {{ k }}, month_n
{%- endmacro %}
