"""Spanish words of crisis: one list of self-harm phrases, one of violence.

Notation and folding: :mod:`cm_bot.engine.crisis_words`. Kept broad on purpose; each
borderline choice is noted where it is made.
"""

# Named word choices, written ``<name>`` in an entry: high places one may jump from.
GROUPS: dict[str, str] = {
    "es_high": "puente|edificio|techo|balcon|ventana|tren|metro|vias|azotea",
}

# Suicide and self-harm.
SELF_HARM: tuple[str, ...] = (
    "suicid*",  # suicidio, suicidarme, suicida
    "matarme",  # also "amenazó con matarme" (with a violence word: both kinds)
    "me quiero|kiero|voy_a|vy_a|vo_a matar",
    "me mato !de|trabajando|estudiando|a|en|con|por|para",  # not "me mató de risa"
    "mejor me mato",
    "quit* la vida",  # quitarme la vida, me voy a quitar la vida
    "acab*|termin* con mi vida",
    "acab*|termin* con todo !el|la|los|las|lo|esto|eso|este|esta|mi|mis|tu|su|sus",
    "quiero|kiero|quisiera|deseo|prefiero morir*",
    "me quiero|kiero morir",
    "ganas de morir*|desaparecer|no_vivir",
    "ojala me muera|muriera|muriese",
    "ojala estuviera muert*",
    "mejor muert*",  # mejor muerta, estaría mejor muerto
    "mejor me muero",
    "mejor morir*",
    "mejor sin mi",  # estarían mejor sin mí
    "quiero|quisiera|deseo estar muert*",
    "no quiero|kiero vivir",  # "no quiero vivir ahí": accepted false alarm
    "no quiero|kiero seguir viviendo|aqui|en_este_mundo",
    "no quiero despertar*",
    "y no despertar*",
    "no vale la pena vivir|seguir",
    "la vida no vale la pena",
    "no tiene sentido vivir|seguir|la_vida|mi_vida",
    "razon|razones|motivo|motivos para vivir|seguir_viviendo",
    "cansad*|harta|harto de vivir|la_vida",
    "cansad* de todo",  # borderline, like "tired of everything"
    "ya no puedo mas $",
    "no puedo mas $",
    "no puedo mas con mi_vida|la_vida|esto",
    "no aguanto mas $",
    "no aguanto mas esta_vida|vivir|la_vida",
    "quiero|kiero|quisiera desaparecer|irme_de_este_mundo",
    "hacerme daño",
    "me hago daño",
    "lastimarme",  # "lastimarme la espalda": accepted false alarm
    "me estoy lastimando",
    "autolesi*",  # autolesión, autolesionarme
    "auto lesion*",
    "cort* las|los|mis venas|brazos|muñecas|piernas",
    "cortarme !el|la|un|una|las_uñas|los_pelos|el_pelo",
    "sobredosi*",
    "tom* todas las|mis pastillas|pastis",  # "tomé todas mis pastillas": accepted
    "tom* muchas|demasiadas|un_monton_de pastillas|pastis",
    "me quiero|voy_a tirar|aventar|lanzar|arrojar .. <es_high>",
    "tirarme|aventarme|lanzarme|arrojarme .. <es_high>",
    "colgarme",
    "ahorcarme",
    "me voy a colgar|ahorcar",
    "envenenarme",
    "pegarme|darme|meterme un tiro|balazo",
)

# Violence against the client: someone hits them, they are not safe at home.
VIOLENCE: tuple[str, ...] = (
    "no estoy|estamos a salvo",
    "no me siento|sentimos segura|seguro|seguros|seguras|a_salvo !de|del|que|si|sobre|para",
    "no estoy|estamos segura|seguro|seguros|seguras en_casa|en_mi_casa|aqui|con_el",
    "me pega|pego|pegaba|pegan|pegaron",  # "se me pega la gripe": accepted false alarm
    "me golpea|golpeo|golpeaba|golpean|golpearon",  # not "me golpeé la rodilla"
    "me maltrat*",
    "maltrato",
    "maltratador*",
    # Landlords and utilities threaten eviction and shut-offs: those are not violence.
    "me amenaz* !con_desaloj*|con_echar*|con_cortar*|con_el_corte|con_demand*|con_multa*",
    "me tiene|tienen amenazad*",
    "me viol*",  # me violó, me violaron
    "me ahorc*",  # me ahorca (chokes me)
    "me estrangul*",
    "me pate*",
    "me lastima|lastiman|lastimaba|lastimo",
    "me hace|hizo|hacia|hacen daño",
    "me va|van a matar",
    "me quiere|quieren|puede|podria matar",
    "me matara|mataran",
    "casi me mata !de",  # not "casi me mata de risa"
    "amenaz* con matar*",
    "me da|dio|dieron|daba|dan|pego|pegaba una|otra paliza|golpiza",  # not "fue una paliza"
    "golpiza*",
    "a golpes",
    "me da|dio|daba|dan golpes|patadas|cachetadas|bofetadas|palizas|puñetazos",
    "violencia domestica|familiar|de_genero|intrafamiliar",
    "me abus*",
    "abus* de mi",
    "abuso sexual",
    "me forz*",
    "obliga* a tener relaciones|sexo",
    "miedo de|a mi esposo|marido|pareja|novio|ex|padre|padrastro|papa|hermano|hijo",
    "miedo de el",
    "le tengo miedo $",
    "miedo .. volver|regresar|ir|llegar a casa",
    "estoy|estamos|estan en peligro",
    "corr* peligro",
    "vida .. peligro",
    "me encierra|encerro|encierran",
    "no me deja salir",
    "orden de proteccion|alejamiento|restriccion",
)
