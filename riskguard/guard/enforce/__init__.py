"""Side effects of the guard: journalling plans and sending protective orders through the port."""
