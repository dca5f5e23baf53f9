{#- The reach age group of an age (age in the calendar year of the contact; 90 = 90 or over). -#}
{% macro age_group(age) -%}
    case
        when {{ age }} is null then 'unknown'
        when {{ age }} <= 6 then '0-6'
        when {{ age }} <= 17 then '7-17'
        when {{ age }} <= 64 then '18-64'
        when {{ age }} <= 74 then '65-74'
        else '75+'
    end
{%- endmacro %}
